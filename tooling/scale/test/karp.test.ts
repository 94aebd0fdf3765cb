import { karp } from './clients/karp.ts'
import { scaleSuite } from './scenario.ts'

scaleSuite(karp)
