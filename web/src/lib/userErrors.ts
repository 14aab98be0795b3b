// Maps a mutation's userErrors to the form fields they belong to, using each error's `field` path
// (e.g. ["input", "mask", "0", "width"]), so messages appear next to the control at fault.

/** The shape every payload's userErrors share. */
export interface UserErrorLike {
  field?: readonly string[] | null;
  message: string;
  code?: string;
}

/** Key for errors tied to no known field; shown at the top of the form. */
export const FORM_KEY = 'form';

/** Messages per field key; every key present has at least one message. */
export type FieldErrors = Record<string, string[]>;

// Field paths start at the mutation argument ("input") which the form does not show; an id
// argument of a mutation without an input object is a field of its own.
export function fieldKeyFromPath(path: readonly string[] | null | undefined): { key: string; index: number | null } {
  if (!path || path.length === 0) return { key: FORM_KEY, index: null };
  const rest = path[0] === 'input' ? path.slice(1) : path;
  if (rest.length === 0) return { key: FORM_KEY, index: null };
  const key = rest[0];
  const indexPart = rest.find((part, i) => i > 0 && /^\d+$/.test(part));
  return { key, index: indexPart === undefined ? null : Number(indexPart) };
}

// The server may already name the item ("rectangle 0: ...", counting from 0); the form numbers
// items from 1, so its own prefix replaces the server's rather than adding a second one.
export function stripItemPrefix(message: string, label: string): string {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return message.replace(new RegExp(`^\\s*${escaped}\\s+\\d+\\s*[:,.-]\\s*`, 'i'), '');
}

// Lists (mask rectangles, uploaded images) share one error slot, so the item number goes into
// the message to say which one is wrong.
export function groupUserErrors(
  errors: readonly UserErrorLike[] | null | undefined,
  knownFields: readonly string[],
  itemLabels: Readonly<Record<string, string>> = {},
): FieldErrors {
  const out: FieldErrors = {};
  for (const error of errors ?? []) {
    const { key, index } = fieldKeyFromPath(error.field);
    const target = knownFields.includes(key) ? key : FORM_KEY;
    const label = itemLabels[key];
    const message =
      index !== null && label && target === key
        ? `${label} ${index + 1}: ${stripItemPrefix(error.message, label)}`
        : error.message;
    (out[target] ??= []).push(message);
  }
  return out;
}

// An id for the error element of a field, so the control can point at it with aria-describedby.
export function errorId(formId: string, key: string): string {
  return `${formId}-${key}-error`;
}

// Server messages name fields the way the API does ("prompt (what to change) is required"); people
// read a sentence that says what to do, starting with a capital and ending with a full stop.
export function friendlyMessage(message: string): string {
  const text = message.trim();
  const required = /^[\w ]+ \((.+)\) is required\.?$/i.exec(text);
  const sentence = required ? `Please describe ${required[1]}` : text;
  if (!sentence) return sentence;
  const capital = sentence[0].toUpperCase() + sentence.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

// The first control flagged invalid inside a form, so focus can go where the problem is.
export function firstInvalid(root: ParentNode | null | undefined): HTMLElement | null {
  return root?.querySelector<HTMLElement>('[aria-invalid="true"]') ?? null;
}
