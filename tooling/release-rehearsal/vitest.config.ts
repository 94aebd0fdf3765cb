import { packageProject } from '@proto/vitest-config'

// Each step publishes or installs through real npm and pnpm processes; the limits are generous
// so a loaded machine is slow rather than failing.
export default packageProject('release-rehearsal', {
  testTimeout: 300_000,
  hookTimeout: 300_000,
})
