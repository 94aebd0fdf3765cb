// @proto/vitest-config is plain JavaScript without declarations; this types the one function
// vitest.config.ts uses, so the package typechecks.
declare module '@proto/vitest-config' {
  import type { UserWorkspaceConfig } from 'vitest/config'
  export function packageProject(name: string, overrides?: UserWorkspaceConfig['test']): UserWorkspaceConfig
}
