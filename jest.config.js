/** Jest runs every *.test.ts under host-tests/ on Node; files marked `// @xs` also run on XS (host-tests/xs/run.js). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/host-tests"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/host-tests/tsconfig.jest.json", diagnostics: false }],
  },
  testTimeout: 30000,
  // Two workers on CI's 2 cores (jest's default is cores - 1: one): most suites wait on real
  // peers, sockets and timers rather than compute, so two overlap well.
  maxWorkers: 2,
};
