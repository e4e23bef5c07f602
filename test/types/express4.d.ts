// Express 4 is installed as `express4` (npm alias) to run the adapter scenarios on both majors; its API
// types are those of @types/express for these tests' purposes.
declare module 'express4' {
  import express from 'express';
  export default express;
}
