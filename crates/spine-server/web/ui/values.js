// How an event's `data` and `changes` read as table rows in the event detail, and sizes in the
// ledger. Pure, so the shapes are tested in Node.

/** How one JSON value reads in a table cell: strings as they are, the rest as JSON. */
export function formatValue(value) {
  if (value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/**
 * Rows for showing an event's `data` as a key/value table: a nested object becomes a row with
 * its key and no value, followed by its own rows one level deeper; arrays stay on one line as
 * JSON because they rarely read well as rows.
 * @returns {{key: string, value: string|null, depth: number}[]}
 */
export function dataRows(data, depth = 0) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return [];
  const rows = [];
  for (const [key, value] of Object.entries(data)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      rows.push({ key, value: null, depth });
      rows.push(...dataRows(value, depth + 1));
    } else {
      rows.push({ key, value: formatValue(value), depth });
    }
  }
  return rows;
}

/** An event's `changes` as {field, old, new} strings; a missing side reads as "—". */
export function changeRows(changes) {
  if (!Array.isArray(changes)) return [];
  return changes.map((c) => ({
    field: String(c?.field ?? ''),
    old: formatValue(c?.old),
    new: formatValue(c?.new),
  }));
}

/** A size in bytes as it reads: "812 B", "3.4 KiB", "1.2 MiB". */
export function byteSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
