import { describe, expect, it } from 'vitest';
import { editorName, mendGraphiql } from './a11y';

// The markup GraphiQL 4 renders, cut down to what axe objected to.
function graphiqlDom(): HTMLElement {
  const root = document.createElement('main');
  root.innerHTML = `
    <ul role="tablist">
      <li class="graphiql-tab" role="tab" aria-selected="true">
        <button class="graphiql-tab-button">query</button><button class="graphiql-tab-close">x</button>
      </li>
    </ul>
    <section class="graphiql-query-editor"><div class="CodeMirror"><div><textarea></textarea></div>
      <div class="CodeMirror-scroll" tabindex="-1"></div></div></section>
    <section class="graphiql-editor-tool">
      <div class="graphiql-editor"><div class="CodeMirror"><div><textarea></textarea></div></div></div>
      <div class="graphiql-editor"><div class="CodeMirror"><div><textarea></textarea></div></div></div>
    </section>
    <section class="graphiql-response"><div class="CodeMirror"><div><textarea readonly></textarea></div></div></section>`;
  return root;
}

describe('mendGraphiql', () => {
  it('names every editor after its pane', () => {
    const root = graphiqlDom();
    mendGraphiql(root);
    const names = [...root.querySelectorAll('textarea')].map((t) => t.getAttribute('aria-label'));
    expect(names).toEqual(['Query', 'Variables', 'Headers', 'Response']);
    expect(editorName(document.createElement('textarea'))).toBe('Editor');
  });

  it('puts the scroll areas in the tab order with a name', () => {
    const root = graphiqlDom();
    mendGraphiql(root);
    const scroller = root.querySelector('.CodeMirror-scroll')!;
    expect(scroller.getAttribute('tabindex')).toBe('0');
    expect(scroller.getAttribute('aria-label')).toBe('Query (scroll)');
  });

  it('moves the tab role and selection onto the button, again after React re-selects the <li>', () => {
    const root = graphiqlDom();
    mendGraphiql(root);
    const li = root.querySelector('li')!;
    const button = root.querySelector('.graphiql-tab-button')!;
    expect([li.getAttribute('role'), li.hasAttribute('aria-selected')]).toEqual(['presentation', false]);
    expect([button.getAttribute('role'), button.getAttribute('aria-selected')]).toEqual(['tab', 'true']);
    li.setAttribute('aria-selected', 'false');
    mendGraphiql(root);
    expect(button.getAttribute('aria-selected')).toBe('false');
    expect(li.hasAttribute('aria-selected')).toBe(false);
  });
});
