// Every test and every file ends what it started: the balancer and the backend processes are
// killed and the clients closed even when an assertion failed half-way.
import { afterAll, afterEach, beforeEach } from 'vitest'
import { closeScope, openScope } from './cleanup.ts'

beforeEach(openScope)
afterEach(closeScope)
afterAll(closeScope)
