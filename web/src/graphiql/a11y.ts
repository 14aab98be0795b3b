// GraphiQL 4 ships markup axe rejects: CodeMirror's textareas have no name and its scroll areas cannot
// be reached by keyboard, and each tab is an <li role="tab"> wrapping its own buttons. The live DOM is
// mended here, again whenever GraphiQL renders more of it, so the explorer passes axe like the app.

/** The name of a CodeMirror textarea, from the GraphiQL pane it sits in. */
export function editorName(textarea: Element): string {
  if (textarea.closest('.graphiql-query-editor')) return 'Query';
  if (textarea.closest('.graphiql-response')) return 'Response';
  const tool = textarea.closest('.graphiql-editor-tool > .graphiql-editor');
  // GraphiQL renders the variables editor first and the headers editor second in the same section.
  if (tool) return tool.previousElementSibling ? 'Headers' : 'Variables';
  return 'Editor';
}

/** Label editors, put their scroll areas in the tab order and move each tab's role onto its button. */
export function mendGraphiql(root: ParentNode): void {
  for (const textarea of root.querySelectorAll('.CodeMirror textarea:not([aria-label])')) {
    textarea.setAttribute('aria-label', editorName(textarea));
  }
  for (const scroller of root.querySelectorAll('.CodeMirror-scroll:not([tabindex="0"])')) {
    // CodeMirror gives it tabindex=-1. Keyboard users read a long query or response by scrolling this area; CodeMirror's own textarea
    // sits outside it, so the area itself must take focus.
    scroller.setAttribute('tabindex', '0');
    scroller.setAttribute('role', 'region');
    scroller.setAttribute('aria-label', `${editorName(scroller)} (scroll)`);
  }
  for (const tab of root.querySelectorAll('li.graphiql-tab')) {
    const button = tab.querySelector('button.graphiql-tab-button');
    if (!button) continue;
    if (tab.getAttribute('role') !== 'presentation') {
      button.setAttribute('role', 'tab');
      tab.setAttribute('role', 'presentation');
    }
    // React sets aria-selected on the <li> again when the active tab changes: it moves to the button.
    if (tab.hasAttribute('aria-selected') || !button.hasAttribute('aria-selected')) {
      button.setAttribute('aria-selected', tab.getAttribute('aria-selected') ?? 'false');
      tab.removeAttribute('aria-selected');
    }
  }
}

/** Mend now and after every change under `root`; returns the function that stops watching. */
export function watchGraphiql(root: HTMLElement): () => void {
  mendGraphiql(root);
  const observer = new MutationObserver(() => mendGraphiql(root));
  observer.observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ['role', 'aria-selected'] });
  return () => observer.disconnect();
}
