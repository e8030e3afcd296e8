/** Jest runs every *.test.ts under host-tests/ on Node; files marked `// @xs` also run on XS (host-tests/xs/run.js). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/host-tests"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/host-tests/tsconfig.jest.json", diagnostics: false }],
  },
  testTimeout: 30000,
};
