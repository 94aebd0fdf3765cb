import { packageProject } from '@proto/vitest-config'

export default packageProject('interop', {
  // Python and the originals are found once for the whole run.
  globalSetup: ['test/global-setup.ts'],
  // Every test kills the Python process groups and closes the servers it started.
  setupFiles: ['test/setup.ts'],
  // The files mostly wait on Python processes and sockets, not on a CPU, so they run side by
  // side; in the root run they come after the other projects (a group of their own), so they
  // neither slow nor disturb the memory readings of the reliability suite.
  maxWorkers: 5,
  sequence: { groupOrder: 1 },
})
