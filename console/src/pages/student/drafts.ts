// Work a student should not lose to a navigation: the code on the code page, and a question prepared
// for the tutor from a failed run. sessionStorage: it survives a reload and going to another page, and
// goes with the tab (as the session does), so nothing of it outlives the sign-in on a shared computer.
const CODE = "learnflow.learn.code";
const ASK = "learnflow.learn.ask";

export interface AskDraft {
  text: string;
  code: string;
  error: string;
}

function read<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null; // storage off or a value from an older build: start afresh rather than fail the page
  }
}

function write(key: string, value: unknown): void {
  try {
    sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or off: the draft is a convenience, the page works without it.
  }
}

export const savedCode = (): string | null => read<string>(CODE);
export const saveCode = (code: string): void => write(CODE, code);

/** Leaves a question for the ask page, which takes it (once) when it opens. */
export const leaveAskDraft = (draft: AskDraft): void => write(ASK, draft);
export function takeAskDraft(): AskDraft | null {
  const draft = read<AskDraft>(ASK);
  try {
    sessionStorage.removeItem(ASK);
  } catch {
    // nothing to clean up when storage is off
  }
  return draft;
}
