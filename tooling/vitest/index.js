import { defineProject } from 'vitest/config'

/**
 * The test project every package uses: tests in `test/`, Node environment, no retries (a
 * flaky test is a bug to fix, not to hide).
 * @param {string} name the project name shown in reports
 * @param {import('vitest/config').TestProjectInlineConfiguration['test']} [overrides]
 */
export function packageProject(name, overrides = {}) {
  return defineProject({
    test: {
      name,
      include: ['test/**/*.test.ts'],
      environment: 'node',
      testTimeout: 30_000,
      hookTimeout: 30_000,
      retry: 0,
      ...overrides,
    },
  })
}
