import type { TestProjectInlineConfiguration, UserWorkspaceConfig } from 'vitest/config'

export function packageProject(name: string, overrides?: TestProjectInlineConfiguration['test']): UserWorkspaceConfig
