import { packageProject } from '@proto/vitest-config'

export default packageProject('scale', {
  // HAProxy is found, or installed, once for the whole run.
  globalSetup: ['test/global-setup.ts'],
  // Every test stops the balancer and the backend processes it started.
  setupFiles: ['test/setup.ts'],
  // Each file runs a balancer and two backends, all busy while its traffic flows: one file at a
  // time, after the other projects (a group of their own), so the two cores are theirs alone.
  maxWorkers: 1,
  sequence: { groupOrder: 2 },
})
