import { packageProject } from '@proto/vitest-config'

export default packageProject('examples', {
  // Packs the workspace and installs each package with examples once for the whole run.
  globalSetup: ['test/global-setup.ts'],
  hookTimeout: 600_000,
})
