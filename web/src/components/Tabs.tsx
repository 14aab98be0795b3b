// WAI-ARIA tabs with automatic activation: one tab stop for the whole list, arrow keys, Home and
// End move between tabs.
import { useRef, type KeyboardEvent, type ReactNode, type Ref } from 'react';

/** One tab of a Tabs list. */
export interface TabSpec<K extends string> {
  key: K;
  label: ReactNode;
  testId?: string;
}

// Ids tabs and panels share so aria-controls and aria-labelledby point at each other.
export function tabIds(prefix: string, key: string): { tab: string; panel: string } {
  return { tab: `${prefix}-tab-${key}`, panel: `${prefix}-panel-${key}` };
}

// The next tab for a key press, wrapping at both ends; null for keys tabs do not handle.
export function nextTabIndex(key: string, current: number, count: number): number | null {
  switch (key) {
    case 'ArrowRight':
    case 'ArrowDown':
      return (current + 1) % count;
    case 'ArrowLeft':
    case 'ArrowUp':
      return (current - 1 + count) % count;
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return null;
  }
}

interface TabListProps<K extends string> {
  idPrefix: string;
  label: string;
  tabs: readonly TabSpec<K>[];
  selected: K;
  onSelect: (key: K) => void;
  selectedRef?: Ref<HTMLButtonElement>;
}

// Panels are rendered by the caller (with tabIds) so each can keep its own form layout.
export function TabList<K extends string>({ idPrefix, label, tabs, selected, onSelect, selectedRef }: TabListProps<K>) {
  const buttons = useRef<(HTMLButtonElement | null)[]>([]);
  const current = Math.max(
    0,
    tabs.findIndex((t) => t.key === selected),
  );

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const next = nextTabIndex(event.key, current, tabs.length);
    if (next === null) return;
    event.preventDefault();
    onSelect(tabs[next].key);
    buttons.current[next]?.focus();
  };

  return (
    <div role="tablist" aria-label={label} className="tablist" onKeyDown={onKeyDown}>
      {tabs.map((tab, i) => {
        const ids = tabIds(idPrefix, tab.key);
        const isSelected = tab.key === selected;
        return (
          <button
            key={tab.key}
            ref={(el) => {
              buttons.current[i] = el;
              if (isSelected && selectedRef) {
                if (typeof selectedRef === 'function') selectedRef(el);
                else (selectedRef as { current: HTMLButtonElement | null }).current = el;
              }
            }}
            type="button"
            role="tab"
            id={ids.tab}
            aria-selected={isSelected}
            aria-controls={ids.panel}
            tabIndex={isSelected ? 0 : -1}
            data-testid={tab.testId}
            className="tab"
            onClick={() => onSelect(tab.key)}
          >
            {tab.label}
          </button>
        );
      })}
    </div>
  );
}
