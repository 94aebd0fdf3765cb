import { korv } from './clients/korv.ts'
import { scaleSuite } from './scenario.ts'

scaleSuite(korv)
