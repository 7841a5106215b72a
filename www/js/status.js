// What the user reads about the app's state: the status line (role=status) and the error box
// (role=alert), plus the number formats they use.
const statusLine = document.getElementById('status');
const errorBox = document.getElementById('error');

export function setStatus(text) { statusLine.textContent = text; }

export function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

export function fmtTime(s) {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export const pct = (x) => `${(x * 100).toFixed(2)}%`;
export const count = (n) => Math.round(n).toLocaleString('en-US');
