// Display formatting. Money stays integer minor units everywhere; only here
// does it become text, through exact decimal strings (never floats).

const digitsCache = new Map();

/** Minor-unit digits of a currency (2 for USD, 0 for JPY). */
export function currencyDigits(currency) {
  if (!digitsCache.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency })
        .resolvedOptions().maximumFractionDigits;
    } catch { /* an unknown code: assume cents */ }
    digitsCache.set(currency, digits);
  }
  return digitsCache.get(currency);
}

/** An exact decimal string of `minor` units: 12345 -> "123.45". */
export function decimalString(minor, digits) {
  const negative = minor < 0;
  const text = String(Math.abs(Math.trunc(minor))).padStart(digits + 1, '0');
  const whole = digits ? text.slice(0, -digits) : text;
  const frac = digits ? text.slice(-digits) : '';
  return (negative ? '-' : '') + whole + (digits ? `.${frac}` : '');
}

const formatters = new Map();

/** 12345, "USD" -> "$123.45". */
export function money(minor, currency = 'USD') {
  if (minor === null || minor === undefined) return '—';
  const digits = currencyDigits(currency);
  let formatter = formatters.get(currency);
  if (!formatter) {
    try {
      formatter = new Intl.NumberFormat(undefined, {
        style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
      });
    } catch {
      formatter = null;
    }
    formatters.set(currency, formatter);
  }
  const exact = decimalString(minor, digits);
  // Intl formats a decimal string exactly.
  return formatter ? formatter.format(exact) : `${exact} ${currency}`;
}

/** Money without trailing ".00" when whole (for big buttons): "$5", "$5.50". */
export function moneyShort(minor, currency = 'USD') {
  const digits = currencyDigits(currency);
  const full = money(minor, currency);
  if (digits && minor % 10 ** digits === 0) {
    const zeros = '0'.repeat(digits);
    return full.replace(new RegExp(`[.,]${zeros}(?!\\d)`), '');
  }
  return full;
}

/**
 * Parse what a person typed ("25", "25.5", "$1,025.50") into minor units,
 * with integer arithmetic only; null when it is not an amount.
 */
export function parseMoney(text, currency = 'USD') {
  const digits = currencyDigits(currency);
  const cleaned = String(text ?? '').replace(/[^0-9.,]/g, '').replace(/,(?=\d{3}(\D|$))/g, '');
  const normalized = cleaned.replace(',', '.');
  const match = /^(\d+)(?:\.(\d*))?$/.exec(normalized);
  if (!match) return null;
  const frac = (match[2] ?? '').slice(0, digits).padEnd(digits, '0');
  if ((match[2] ?? '').length > digits && /[1-9]/.test(match[2].slice(digits))) return null;
  const value = Number(match[1]) * 10 ** digits + (digits ? Number(frac) : 0);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/** Milliseconds left -> "1:05", "0:09"; hours as "1:02:03". */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** "Today 18:00", "Tue 2 Dec, 18:00". */
export function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const now = new Date();
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === now.toDateString()) return `Today ${time}`;
  return `${date.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' })}, ${time}`;
}

/** "12:04:31" for feeds. */
export function clockTime(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "3 viewers". */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** A readable order or auction status. */
export function statusLabel(status) {
  return String(status ?? '').replace(/_/g, ' ');
}
