import { defineConfig } from 'vitest/config'

// The interop, scale and examples suites test what our Node version does not change (the Python
// originals, a real balancer, installs from the tarballs), so the run under other Node majors
// leaves them out with this variable (tooling/scripts/test-node-versions.mjs sets it unless a
// --project is given).
const onceOnly = process.env['PROTO_TEST_OTHER_NODE'] === '1' ? [] : ['tooling/interop', 'tooling/scale', 'tooling/examples']

export default defineConfig({
  test: {
    projects: ['packages/*', 'tooling/reliability', ...onceOnly],
  },
})
