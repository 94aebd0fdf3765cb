import { tej } from './clients/tej.ts'
import { scaleSuite } from './scenario.ts'

scaleSuite(tej)
