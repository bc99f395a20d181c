export { sleep, waitFor } from '../../testbed/lab/wait.ts';
