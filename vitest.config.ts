import { defineConfig } from 'vitest/config'

// The interop and scale suites test what our Node version does not change (the Python originals,
// a real balancer), so the run under other Node majors leaves them out with this variable
// (tooling/scripts/test-node-versions.mjs sets it unless a --project is given).
const onceOnly = process.env['PROTO_TEST_OTHER_NODE'] === '1' ? [] : ['tooling/interop', 'tooling/scale']

export default defineConfig({
  test: {
    projects: ['packages/*', 'tooling/reliability', ...onceOnly],
  },
})
