import { framing } from './clients/framing.ts'
import { scaleSuite } from './scenario.ts'

scaleSuite(framing)
