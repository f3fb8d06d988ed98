// A plain-text editor with line numbers whose problems show ON their line: the gutter marks the line
// (a sign and its message as the marker's name), a tinted band lies behind the line's text, and the
// problem list under the editor says "Line N: …" with a button that puts the cursor on that line.
// A <textarea> rather than CodeMirror: policy files are short YAML + Markdown, the textarea is
// accessible and keyboard-friendly as it comes, and the page stays a few kB.
import { useLayoutEffect, useRef, useState } from "preact/hooks";

export interface LineProblem {
  line: number; // 1-based; 0 = the whole file
  message: string;
}

export function LineEditor({
  id,
  label,
  value,
  onInput,
  problems,
  rows = 22,
}: {
  id: string;
  label: string;
  value: string;
  onInput: (v: string) => void;
  problems: LineProblem[];
  rows?: number;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const backdrop = useRef<HTMLDivElement>(null);
  const [scroll, setScroll] = useState({ top: 0, left: 0 });
  const lines = value.split("\n");
  const byLine = new Map<number, string[]>();
  for (const p of problems) byLine.set(p.line, [...(byLine.get(p.line) ?? []), p.message]);

  // The gutter and the band behind the text follow the textarea's own scrolling.
  useLayoutEffect(() => {
    if (gutter.current) gutter.current.scrollTop = scroll.top;
    if (backdrop.current) {
      backdrop.current.scrollTop = scroll.top;
      backdrop.current.scrollLeft = scroll.left;
    }
  }, [scroll, value]);

  function goTo(line: number) {
    const el = area.current;
    if (!el) return;
    const start = lines.slice(0, Math.max(0, line - 1)).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.scrollTop = Math.max(0, (line - 3) * lineHeight);
    setScroll({ top: el.scrollTop, left: el.scrollLeft });
  }

  const listId = `${id}-problems`;
  const fileProblems = byLine.get(0) ?? [];
  return (
    <div class="line-editor-wrap">
      <label for={id}>{label}</label>
      <div class="line-editor" style={{ "--rows": rows }}>
        <div class="gutter" ref={gutter} aria-hidden="true">
          {lines.map((_, i) => {
            const msgs = byLine.get(i + 1);
            return (
              <div key={i} class={msgs ? "ln problem" : "ln"} data-line={i + 1} title={msgs?.join("\n")}>
                {msgs ? "⚠ " : ""}
                {i + 1}
              </div>
            );
          })}
        </div>
        <div class="editor-body">
          <div class="backdrop" ref={backdrop} aria-hidden="true">
            {lines.map((l, i) => (
              <div key={i} class={byLine.has(i + 1) ? "bl problem" : "bl"}>
                {l || " "}
              </div>
            ))}
          </div>
          <textarea
            id={id}
            ref={area}
            class="mono"
            rows={rows}
            wrap="off"
            spellcheck={false}
            value={value}
            aria-invalid={problems.length > 0 ? "true" : undefined}
            aria-describedby={problems.length > 0 ? listId : undefined}
            onInput={(e) => onInput(e.currentTarget.value)}
            onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, left: e.currentTarget.scrollLeft })}
          />
        </div>
      </div>
      {problems.length > 0 && (
        <div id={listId} class="problems" role="alert">
          <strong>
            {problems.length === 1 ? "1 problem" : `${problems.length} problems`} to fix before this can be activated
          </strong>
          <ul>
            {fileProblems.map((m) => (
              <li key={`0-${m}`}>Whole file: {m}</li>
            ))}
            {problems
              .filter((p) => p.line > 0)
              .map((p) => (
                <li key={`${p.line}-${p.message}`} data-line={p.line}>
                  <button type="button" class="link" onClick={() => goTo(p.line)}>
                    Line {p.line}
                  </button>
                  : {p.message}
                </li>
              ))}
          </ul>
        </div>
      )}
    </div>
  );
}
