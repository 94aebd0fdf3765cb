import { packageProject } from '@proto/vitest-config'

export default packageProject('reliability', {
  // Each file in its own process, so memory readings see one server and its attackers only,
  // and `--expose-gc` lets every reading start from a collected heap.
  pool: 'forks',
  execArgv: ['--expose-gc'],
})
