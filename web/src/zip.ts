// ZIP archives with fflate, loaded only when an export is asked for.

export async function zipFiles(files: { name: string; text: string }[]): Promise<Blob> {
  const { zipSync, strToU8 } = await import('fflate');
  const entries: Record<string, Uint8Array> = {};
  for (const file of files) entries[file.name] = strToU8(file.text);
  const bytes = zipSync(entries, { level: 6 });
  return new Blob([bytes as BlobPart], { type: 'application/zip' });
}
