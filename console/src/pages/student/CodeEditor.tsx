// The code editor: CodeMirror 6 with Python highlighting, loaded only with the pages that use it (this
// module is imported by lazy pages, so CodeMirror never weighs on the first page). It can mark the
// line an error points at and move the cursor there, and Ctrl/Cmd+Enter runs the code.
//
// Keyboard: CodeMirror's basic setup does not capture Tab (no indentWithTab), so Tab still leaves the
// editor and the page stays keyboard-navigable; indentation is automatic on Enter.
import { python } from "@codemirror/lang-python";
import { EditorState, Prec, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, keymap, type DecorationSet } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { useEffect, useId, useRef } from "preact/hooks";
import { ApiError } from "../../api/errors";

/** What a page can do with its editor. */
export interface EditorControl {
  code(): string;
  /** Moves the cursor to a 1-based line, scrolls it into view and focuses the editor. */
  goToLine(line: number): void;
}

/** An error line to mark; a new object each run, so the same line marked twice is marked again. */
export interface LineMark {
  line: number;
}

const markLine = StateEffect.define<number>();

// The marked line lives in the editor state: it follows the text as the student edits above it, and
// goes when the next run reports no line (or a line past the end).
const errorLine = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    let next = marks.map(tr.changes);
    for (const effect of tr.effects) {
      if (!effect.is(markLine)) continue;
      const n = effect.value;
      next =
        n >= 1 && n <= tr.state.doc.lines
          ? Decoration.set([
              Decoration.line({ class: "cm-error-line", attributes: { "data-error-line": String(n) } }).range(
                tr.state.doc.line(n).from,
              ),
            ])
          : Decoration.none;
    }
    return next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

export function CodeEditor({
  label,
  initial,
  mark,
  onRun,
  control,
  error,
}: {
  label: string;
  /** The starting text; a new value (another exercise) replaces the text. */
  initial: string;
  mark?: LineMark | null;
  onRun?: () => void;
  control: { current: EditorControl | null };
  /** An API error whose `code` field violation shows under the editor. */
  error?: unknown;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const run = useRef(onRun);
  run.current = onRun;
  const id = useId();
  const violation = error instanceof ApiError ? error.forField("code") : undefined;

  useEffect(() => {
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: initial,
        extensions: [
          basicSetup,
          python(),
          errorLine,
          EditorView.lineWrapping,
          // Above the default keymap, where Mod-Enter would insert a blank line.
          Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (run.current?.(), true) }])),
          EditorView.contentAttributes.of({
            "aria-labelledby": `${id}-label`,
            "aria-describedby": `${id}-help`,
          }),
        ],
      }),
    });
    view.current = v;
    control.current = {
      code: () => v.state.doc.toString(),
      goToLine(line) {
        const n = Math.min(Math.max(1, line), v.state.doc.lines);
        const at = v.state.doc.line(n);
        v.dispatch({ selection: { anchor: at.from, head: at.to }, scrollIntoView: true });
        v.focus();
      },
    };
    return () => {
      v.destroy();
      view.current = null;
      control.current = null;
    };
    // One editor per mount; the text follows `initial` below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== initial) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: initial }, effects: markLine.of(0) });
    }
  }, [initial]);

  useEffect(() => {
    view.current?.dispatch({ effects: markLine.of(mark?.line ?? 0) });
  }, [mark]);

  return (
    <div>
      <span class="editor-label" id={`${id}-label`}>
        {label}
      </span>
      {/* A violation of the code field reads as the editor's description (aria-describedby above). */}
      <div class={violation ? "editor invalid" : "editor"} ref={host} />
      <small id={`${id}-help`} class={violation ? "field-error" : "muted"}>
        {violation ?? "Python 3. Ctrl+Enter (⌘+Enter) runs it; Tab moves on to the next control."}
      </small>
    </div>
  );
}
