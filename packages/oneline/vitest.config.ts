import { packageProject } from '@proto/vitest-config'

export default packageProject('oneline')
