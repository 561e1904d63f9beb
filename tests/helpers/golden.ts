// Golden files: the expected text of a test, kept in the repository. They are written only when
// UPDATE_GOLDEN=1 asks for it; a missing one fails with a message saying how to create it, so a test
// never passes by writing what it was meant to check.
import fs from 'fs';
import path from 'path';

export const updating = (): boolean => process.env.UPDATE_GOLDEN === '1';

/** Checks `actual` against the golden file (or writes it, under UPDATE_GOLDEN=1). */
export function expectGolden(file: string, actual: string): void {
  if (updating()) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
  } else if (!fs.existsSync(file)) {
    const test = path.relative(process.cwd(), expect.getState().testPath ?? 'the test file');
    const name = path.relative(process.cwd(), file);
    throw new Error(
      `golden file ${name} is missing: create it with UPDATE_GOLDEN=1 npx jest ${test}, then review and commit it`,
    );
  }
  expect(actual).toBe(fs.readFileSync(file, 'utf8'));
}
