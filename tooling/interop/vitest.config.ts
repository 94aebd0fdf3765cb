import { packageProject } from '@proto/vitest-config'

export default packageProject('interop', {
  // Python and the originals are found once for the whole run.
  globalSetup: ['test/global-setup.ts'],
  // Every test kills the Python process groups and closes the servers it started.
  setupFiles: ['test/setup.ts'],
})
