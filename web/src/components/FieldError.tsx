// The message slot under a form control; it always carries the same test id so tests and
// aria-describedby can find it, and renders nothing when the field is fine.
import type { FieldErrors } from '../lib/userErrors';
import { errorId, friendlyMessage } from '../lib/userErrors';

interface FieldErrorProps {
  formId: string;
  name: string;
  errors: FieldErrors;
}

// Rendered as role=alert so a message that appears after submitting is announced at once.
export function FieldError({ formId, name, errors }: FieldErrorProps) {
  const messages = errors[name];
  if (!messages?.length) return null;
  return (
    <div className="field-error" id={errorId(formId, name)} data-testid={`field-error-${name}`} role="alert">
      {messages.length === 1 ? (
        friendlyMessage(messages[0])
      ) : (
        <ul>
          {messages.map((m, i) => (
            <li key={i}>{friendlyMessage(m)}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

// Props a control needs to point at its error and be flagged invalid.
export function describedBy(formId: string, name: string, errors: FieldErrors, ...others: (string | undefined)[]) {
  const ids = [...others.filter(Boolean), errors[name]?.length ? errorId(formId, name) : undefined].filter(Boolean);
  return {
    'aria-invalid': errors[name]?.length ? (true as const) : undefined,
    'aria-describedby': ids.length ? ids.join(' ') : undefined,
  };
}
