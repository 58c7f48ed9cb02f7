/**
 * Text from the ledger is attacker-controlled (a client chooses its `user` and `model`), and
 * reports print it to terminals and spreadsheets. These helpers keep one value one visible cell.
 */

/**
 * Characters a terminal does not print as themselves: C0 controls (ESC, CR, LF, tab, BEL, …),
 * DEL, C1 controls (U+0080–U+009F: 8-bit CSI is an escape sequence to some terminals), format
 * characters (bidi overrides and isolates such as U+202E, which reorder what follows on the
 * line and can forge a row visually; zero-width characters; BOM), the line and paragraph
 * separators U+2028/U+2029, and lone surrogates.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function hex(codePoint: number, digits: number): string {
  return codePoint.toString(16).padStart(digits, '0');
}

/**
 * Returns `text` with every unprintable character (see UNPRINTABLE) replaced by a visible
 * escape: `\n`, `\r`, `\t`, `\xHH` for the other C0/C1 controls and DEL, `\u{HHHH}` for the
 * rest. The result holds no control, bidi or line-breaking character, so it renders as one
 * cell on one line whatever the value; printable text (accents, CJK, emoji, backslashes) is
 * left as it is. `--format json` is where the exact value is read.
 *
 * @example
 * escapeForTerminal('team-a\x1b[2J\n'); // 'team-a\\x1b[2J\\n'
 */
export function escapeForTerminal(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => {
    const named = NAMED[ch];
    if (named !== undefined) return named;
    const codePoint = ch.codePointAt(0) ?? 0;
    return codePoint <= 0x9f ? `\\x${hex(codePoint, 2)}` : `\\u{${hex(codePoint, 4)}}`;
  });
}

/**
 * Characters JSON.stringify leaves raw inside strings although a terminal does not print them as
 * themselves: DEL, C1 controls, format characters (bidi overrides), U+2028/U+2029. (It already
 * escapes C0 controls and lone surrogates.) None of them can occur outside a JSON string.
 */
const JSON_RAW_UNPRINTABLE = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * Replaces the characters of JSON_RAW_UNPRINTABLE in JSON text by `\uXXXX` escapes (a UTF-16
 * pair for astral ones). The text parses to exactly the same value; it is only safe to print.
 */
export function escapeJsonForTerminal(json: string): string {
  return json.replace(JSON_RAW_UNPRINTABLE, (ch) => {
    let out = '';
    for (let i = 0; i < ch.length; i++) out += `\\u${hex(ch.charCodeAt(i), 4)}`;
    return out;
  });
}
