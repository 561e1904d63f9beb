import { column, parseCsv } from '../src/io/csv';

describe('parseCsv', () => {
  test('reads a header and rows of numbers, skipping blank and comment lines', () => {
    const table = parseCsv('# made by hand\r\nt, x ,"y"\r\n0,1.5,-2\n\n1,2e-3,3\n');
    expect(table).toEqual({
      columns: ['t', 'x', 'y'],
      rows: [
        [0, 1.5, -2],
        [1, 0.002, 3],
      ],
    });
    expect(column(table, 'x')).toEqual([1.5, 0.002]);
  });

  test.each([
    ['', 'f.csv: the file is empty; it needs a header row of column names'],
    ['a,,b\n1,2,3\n', 'f.csv:1:2: column 2 has no name in the header'],
    ['a,b,a\n1,2,3\n', "f.csv:1: the column name 'a' appears twice in the header"],
    ['a,b\n1,2\n3\n', 'f.csv:3: the row has 1 cells but the header names 2 columns'],
    ['a,b\n1,abc\n', "f.csv:2:2: 'abc' in column 'b' is not a finite number"],
    ['a,b\n1,\n', "f.csv:2:2: an empty cell in column 'b' is not a finite number"],
    ['a,b\nNaN,1\n', "f.csv:2:1: 'NaN' in column 'a' is not a finite number"],
  ])('%j is an error naming where', (text, message) => {
    expect(() => parseCsv(text, 'f.csv')).toThrow(message);
  });

  test('a missing column lists the columns there are', () => {
    expect(() => column(parseCsv('a,b\n1,2\n'), 'c', 'f.csv')).toThrow(
      "f.csv: there is no column 'c' (the columns are a, b)",
    );
  });
});
