// Lets a person paste the API token a server with auth on requires (from `churns-gql token create`).
import { useId, useState, type FormEvent } from 'react';
import { Dialog } from '../components/Dialog';
import { useAuth } from './AuthProvider';

// Saving or clearing closes the dialog; the client is rebuilt with the new token.
export function TokenDialog({ onClose }: { onClose: () => void }) {
  const { token, setToken } = useAuth();
  const [value, setValue] = useState(token ?? '');
  const id = useId();

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    setToken(value);
    onClose();
  };

  return (
    <Dialog title="API token" onClose={onClose} testId="token-dialog">
      <form onSubmit={onSubmit}>
        <div className="field">
          <label htmlFor={id}>Token</label>
          <input
            id={id}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={value}
            onChange={(e) => setValue(e.target.value)}
            aria-describedby={`${id}-hint`}
            className="text-input"
          />
          <p id={`${id}-hint`} className="hint">
            Needed only when the server has API tokens. It is kept in this browser&apos;s local storage and sent with every
            request.
          </p>
        </div>
        <div className="actions">
          {token && (
            <button
              type="button"
              className="button-secondary"
              onClick={() => {
                setToken(null);
                onClose();
              }}
            >
              Forget token
            </button>
          )}
          <button type="submit" className="button-primary">
            Save token
          </button>
        </div>
      </form>
    </Dialog>
  );
}
