// Lets a picture fill the rest of the first screen: the page offset of the element's bottom edge is
// written to a CSS variable on its parent, which the stylesheet subtracts from the viewport height.
import { useLayoutEffect, useRef } from 'react';

/** The CSS custom property that holds the offset, in px from the top of the page. */
export const FIT_TOP_VAR = '--fit-top';

// Measured rather than hard-coded because what sits above varies: the jobs panel comes and goes, and
// the title and buttons wrap onto more lines on narrow screens.
export function useFitBelow<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    const target = el?.parentElement;
    if (!el || !target) return;
    const update = () => {
      const bottom = el.getBoundingClientRect().bottom + window.scrollY;
      target.style.setProperty(FIT_TOP_VAR, `${Math.round(bottom)}px`);
    };
    update();
    if (typeof ResizeObserver === 'undefined') return;
    // The body changes size when anything above appears, disappears or re-wraps.
    const observer = new ResizeObserver(update);
    observer.observe(document.body);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return ref;
}
