export { default } from '@proto/eslint-config'
