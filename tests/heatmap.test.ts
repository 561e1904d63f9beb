import zlib from 'zlib';
import { heatmapSvg } from '../src/plot/heatmap';
import { encodePng } from '../src/plot/png';

/** Reads back an encodePng image: its size, its pixels, and whether every chunk's CRC holds. */
function decode(png: Buffer): { width: number; height: number; rgb: Buffer } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks: Record<string, Buffer> = {};
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    const body = png.subarray(at + 4, at + 8 + length);
    // zlib's crc32 (Node 20+) is an independent check of ours.
    if ('crc32' in zlib)
      expect((zlib as unknown as { crc32(b: Buffer): number }).crc32(body)).toBe(png.readUInt32BE(at + 8 + length));
    chunks[type] = png.subarray(at + 8, at + 8 + length);
    at += length + 12;
  }
  const width = chunks.IHDR.readUInt32BE(0);
  const height = chunks.IHDR.readUInt32BE(4);
  const raw = zlib.inflateSync(chunks.IDAT);
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 3 + 1)]).toBe(0);
    raw.copy(rgb, y * width * 3, y * (width * 3 + 1) + 1, (y + 1) * (width * 3 + 1));
  }
  return { width, height, rgb };
}

describe('PNG encoder', () => {
  test('round-trips the pixels of a 3 x 2 image', () => {
    const rgb = Uint8Array.from({ length: 18 }, (_, k) => (k * 37) % 256);
    const out = decode(encodePng(3, 2, rgb));
    expect([out.width, out.height]).toEqual([3, 2]);
    expect([...out.rgb]).toEqual([...rgb]);
  });

  test('a wrong byte count is a RangeError', () => {
    expect(() => encodePng(2, 2, new Uint8Array(11))).toThrow('12');
  });
});

describe('heat maps', () => {
  const image = (svg: string, k = 0) => {
    const uris = [...svg.matchAll(/href="data:image\/png;base64,([^"]+)"/g)].map((m) => m[1]);
    return decode(Buffer.from(uris[k], 'base64'));
  };

  test('one pixel per cell, row 0 at the bottom, the range mapped to the ends of the colour map', () => {
    // 2 rows x 3 columns: the minimum at row 0 column 0, the maximum at row 1 column 2.
    const svg = heatmapSvg([{ title: 'field', values: [0, 1, 2, 3, 4, 5], rows: 2, cols: 3 }], { title: 'T' });
    const { width, height, rgb } = image(svg);
    expect([width, height]).toEqual([3, 2]);
    const pixel = (x: number, y: number) => [...rgb.subarray((y * 3 + x) * 3, (y * 3 + x) * 3 + 3)];
    expect(pixel(0, 1)).toEqual([68, 1, 84]); // value 0: viridis' dark end, drawn in the bottom row
    expect(pixel(2, 0)).toEqual([253, 231, 37]); // value 5: its bright end, top right
    expect(svg).toContain('<text x="');
    expect(svg).toMatch(/>field</);
  });

  test('a diverging panel is white at 0 and symmetric about it', () => {
    const svg = heatmapSvg([{ title: 'error', values: [-2, 0, 1, 2], rows: 2, cols: 2, diverging: true }], {
      title: 'E',
    });
    const { rgb } = image(svg);
    // Image row 0 is field row 1 ([1, 2]); image row 1 is field row 0 ([-2, 0]).
    expect([...rgb.subarray(9, 12)]).toEqual([247, 247, 247]);
    expect([...rgb.subarray(6, 9)]).toEqual([33, 102, 172]);
    expect([...rgb.subarray(3, 6)]).toEqual([178, 24, 43]);
    // The colour bar's ticks cover -2..2.
    for (const t of ['-2', '-1', '0', '1', '2']) expect(svg).toContain(`>${t}</text>`);
  });

  test('panels side by side, each its own image; a size mismatch names the panel', () => {
    const p = { title: 'a', values: [1, 2, 3, 4], rows: 2, cols: 2 };
    const svg = heatmapSvg([p, { ...p, title: 'b' }, { ...p, title: 'c' }], { title: 'three' });
    expect(svg.match(/<image /g)).toHaveLength(3);
    expect(() => heatmapSvg([{ ...p, rows: 3 }], { title: 'bad' })).toThrow("heatmap 'a': 4 values for 3 x 2 cells");
  });
});
