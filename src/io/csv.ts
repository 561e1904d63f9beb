// A small reader for numeric CSV tables: a header row of column names, then one number per cell.
// Errors name the file, the line and the column, so a bad cell can be found in an editor.

export interface NumericTable {
  columns: string[];
  /** Rows of numbers, one per data line, in column order. */
  rows: number[][];
}

/**
 * The separator: a comma, unless the first content line has none and has tabs or semicolons (the
 * exports of spreadsheets set to a locale whose decimal mark is the comma).
 */
function separator(lines: string[]): string {
  const header = lines.find((l) => l.trim() !== '' && !l.trimStart().startsWith('#')) ?? '';
  if (header.includes(',')) return ',';
  return header.includes('\t') ? '\t' : header.includes(';') ? ';' : ',';
}

/** Why a cell that is not a number may still be one in another spelling. */
function cellHint(cell: string, sep: string): string {
  if (/^[-+]?\d+,\d*([eE][-+]?\d+)?$/.test(cell))
    return ` (numbers need a decimal point, not a comma: ${cell.replace(',', '.')})`;
  if (sep === ',' && /[;\t]/.test(cell))
    return ' (the file looks semicolon- or tab-separated but its header has commas; use one separator throughout)';
  return '';
}

/**
 * Parses numbers separated by commas (or tabs or semicolons, as the header has them) under a header;
 * blank lines and lines starting with '#' are skipped.
 */
export function parseCsv(text: string, file = 'CSV'): NumericTable {
  const raw = text.split(/\r?\n/);
  const sep = separator(raw);
  const lines = raw.map((line, i) => ({ line: i + 1, cells: line.split(sep).map((c) => c.trim()) }));
  const content = lines.filter(({ cells }) => !(cells.length === 1 && cells[0] === '') && !cells[0].startsWith('#'));
  if (content.length === 0) throw new Error(`${file}: the file is empty; it needs a header row of column names`);
  const [header, ...body] = content;
  const columns = header.cells.map((name) => name.replace(/^"(.*)"$/, '$1'));
  columns.forEach((name, i) => {
    if (name === '') throw new Error(`${file}:${header.line}:${i + 1}: column ${i + 1} has no name in the header`);
    if (columns.indexOf(name) !== i)
      throw new Error(`${file}:${header.line}: the column name '${name}' appears twice in the header`);
  });
  const rows = body.map(({ line, cells }) => {
    if (cells.length !== columns.length)
      throw new Error(
        `${file}:${line}: the row has ${cells.length} cells but the header names ${columns.length} columns`,
      );
    return cells.map((cell, i) => {
      const value = cell === '' ? NaN : Number(cell);
      if (!Number.isFinite(value))
        throw new Error(
          `${file}:${line}:${i + 1}: ${cell === '' ? 'an empty cell' : `'${cell}'`} in column '${columns[i]}' is not a finite number${cellHint(cell, sep)}`,
        );
      return value;
    });
  });
  return { columns, rows };
}

/** The values of one column; the error lists the columns there are. */
export function column(table: NumericTable, name: string, file = 'CSV'): number[] {
  const k = table.columns.indexOf(name);
  if (k < 0) throw new Error(`${file}: there is no column '${name}' (the columns are ${table.columns.join(', ')})`);
  return table.rows.map((row) => row[k]);
}
