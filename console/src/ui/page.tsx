// A page: its title in the tab and in the one <h1>, which takes focus after a navigation so a screen
// reader announces the new page and the keyboard starts from it.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · LearnFlow`;
    heading.current?.focus();
  }, [title]);
  return (
    <section class="page">
      <header class="page-header">
        <h1 tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {actions && <div class="page-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}
