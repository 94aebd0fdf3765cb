import { krpc } from './clients/krpc.ts'
import { scaleSuite } from './scenario.ts'

scaleSuite(krpc)
