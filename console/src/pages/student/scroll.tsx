// A table that may scroll sideways on a phone. A scrolling region with nothing focusable inside cannot
// be scrolled from the keyboard (axe: scrollable-region-focusable), so the region itself takes focus
// and is named for screen readers.
import type { ComponentChildren } from "preact";

export function ScrollTable({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
