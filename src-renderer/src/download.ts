/**
 * Save a Blob as a file through a Blob URL. The CSP allows it: `blob:` URLs are same-origin, and a
 * download started by an `<a download>` click is a navigation, not a fetch the policy restricts.
 */
export function downloadBlob(filename: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The click has started the download by the time the event loop turns; give it a moment anyway.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Save text as a file (downloadBlob). */
export function downloadText(filename: string, text: string, mime = 'text/plain;charset=utf-8'): void {
  downloadBlob(filename, new Blob([text], { type: mime }));
}

export function mimeFor(filename: string): string {
  if (filename.endsWith('.json')) return 'application/json';
  if (filename.endsWith('.sh')) return 'text/x-shellscript';
  return 'text/plain;charset=utf-8';
}
