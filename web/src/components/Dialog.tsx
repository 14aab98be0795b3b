// A modal dialog: labelled, focus kept inside while open, Escape closes, focus goes back to what
// opened it. The rest of the page is made inert so neither pointer nor screen reader reaches it.
import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode, type RefObject } from 'react';
import { createPortal } from 'react-dom';

const FOCUSABLE = [
  'a[href]',
  'area[href]',
  'button:not([disabled])',
  'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])',
  'textarea:not([disabled])',
  'iframe',
  '[tabindex]:not([tabindex="-1"])',
  '[contenteditable="true"]',
].join(',');

// Elements Tab can reach, in order; hidden ones (display none, hidden panels) are skipped.
export function focusableWithin(root: HTMLElement): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
    (el) => !el.closest('[hidden]') && !el.closest('[inert]') && el.tabIndex >= 0,
  );
}

interface DialogProps {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  /** Extra description read when the dialog opens. */
  description?: ReactNode;
  testId?: string;
  /** Where focus goes first; defaults to the first focusable element. */
  initialFocus?: RefObject<HTMLElement | null>;
  /** When false, closing leaves focus where the caller puts it (e.g. on a new card). */
  restoreFocus?: RefObject<boolean>;
  className?: string;
  /** The dialog holds input that closing would lose: Escape and × ask first. */
  confirmClose?: boolean;
}

/** Page root made inert while a dialog is open. */
const APP_ROOT_ID = 'root';

// Rendered into document.body so the app root can be made inert without hiding the dialog itself.
export function Dialog({
  title,
  onClose,
  children,
  description,
  testId = 'modal',
  initialFocus,
  restoreFocus,
  className,
  confirmClose = false,
}: DialogProps) {
  const titleId = useId();
  const descId = useId();
  const panelRef = useRef<HTMLDivElement>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  const [asking, setAsking] = useState(false);
  const keepRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (asking) keepRef.current?.focus();
  }, [asking]);

  const requestClose = () => {
    if (confirmClose) setAsking(true);
    else onCloseRef.current();
  };
  const keepEditing = () => {
    setAsking(false);
    panelRef.current?.focus();
  };

  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const root = document.getElementById(APP_ROOT_ID);
    const wasInert = root?.hasAttribute('inert') ?? false;
    if (root && !root.contains(panelRef.current)) root.setAttribute('inert', '');
    const panel = panelRef.current;
    const first = initialFocus?.current ?? (panel ? focusableWithin(panel)[0] : null) ?? panel;
    first?.focus();
    return () => {
      if (root && !wasInert) root.removeAttribute('inert');
      if (restoreFocus?.current === false) return;
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    };
    // Opening and closing are the only moments that matter; later prop changes must not refocus.
  }, []);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      event.preventDefault();
      if (asking) keepEditing();
      else requestClose();
      return;
    }
    if (event.key !== 'Tab' || !panelRef.current) return;
    const items = focusableWithin(panelRef.current);
    if (items.length === 0) {
      event.preventDefault();
      panelRef.current.focus();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    if (event.shiftKey && (active === first || active === panelRef.current)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  };

  return createPortal(
    <div
      className="dialog-backdrop"
      data-testid="dialog-backdrop"
      onMouseDown={(event) => {
        // Focus would fall to <body>, outside the panel's key handler; keep it in the panel.
        if (event.target === event.currentTarget) {
          event.preventDefault();
          panelRef.current?.focus();
        }
      }}
    >
      <div
        ref={panelRef}
        className={`dialog${className ? ` ${className}` : ''}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={description ? descId : undefined}
        data-testid={testId}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <div className="dialog-header">
          <h2 id={titleId} className="dialog-title">
            {title}
          </h2>
          <button type="button" className="button-icon" onClick={requestClose} aria-label="Close dialog">
            <span aria-hidden="true">×</span>
          </button>
        </div>
        {description && (
          <p id={descId} className="dialog-description">
            {description}
          </p>
        )}
        {asking && (
          <div className="notice confirm-close" role="alert" data-testid="confirm-close">
            <p>Discard what you entered in this dialog?</p>
            <div className="confirm-actions">
              <button ref={keepRef} type="button" className="button-secondary" onClick={keepEditing}>
                Keep editing
              </button>
              <button type="button" className="button-danger" onClick={() => onCloseRef.current()} data-testid="confirm-discard">
                Discard
              </button>
            </div>
          </div>
        )}
        <div className="dialog-body">{children}</div>
      </div>
    </div>,
    document.body,
  );
}
