// Every test and every file ends what it started: Python process groups are killed and our
// servers and clients closed even when an assertion failed half-way.
import { afterAll, afterEach, beforeEach } from 'vitest'
import { closeScope, openScope } from '@proto/vitest-config/cleanup'

beforeEach(openScope)
afterEach(closeScope)
afterAll(closeScope)
