import { oneline } from './clients/oneline.ts'
import { scaleSuite } from './scenario.ts'

scaleSuite(oneline)
