/** Something to undo when a test (or its file) ends. */
export type Cleanup = () => Promise<void> | void

/** Runs `cleanup` when the current test ends, or when the file ends if no test is running. */
export function defer(cleanup: Cleanup): void

/** Opens the scope of one test. */
export function openScope(): void

/** Runs the cleanups of the innermost scope, newest first; every one runs even if some throw. */
export function closeScope(): Promise<void>

/** A fresh directory under the system's temporary directory, removed with the current scope. */
export function temporaryDirectory(prefix: string): Promise<string>
