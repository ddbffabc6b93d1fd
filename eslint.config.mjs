import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

/**
 * The layers, bottom first: a folder may import from the folders before it, never from those after
 * it (README.md, "Layout"). scripts/, bench/ and test/ sit on top and may import anything.
 */
const LAYERS = ["lib", "storage-node", "governance", "deploy", "manager-bot", "validator", "cli"];

/** Where the tools and tests live: no layer imports from them. */
const TOP = ["scripts", "bench", "test"];

/**
 * `no-restricted-imports` for one layer: any relative import reaching a layer above it. lib/ may
 * import only itself, typechain-types/ and packages.
 */
function layerRule(layer) {
  const above = [...LAYERS.slice(LAYERS.indexOf(layer) + 1), ...TOP];
  const regex = layer === "lib" ? "^\\.\\./(?!typechain-types(/|$))" : `^(\\.\\./)+(${above.join("|")})(/|$)`;
  return {
    files: [`${layer}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex,
              message:
                layer === "lib"
                  ? "lib/ is the bottom layer: it imports only lib/, typechain-types/ and packages."
                  : `${layer}/ is below ${above.join(", ")}: move what both need down to lib/ instead.`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ["node_modules/", "artifacts/", "cache/", "typechain-types/", "coverage/", "dist/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  ...LAYERS.map(layerRule),
  {
    // The plain CommonJS that runs before any TypeScript (bin/, scripts/dist.cjs): Node's globals.
    files: ["**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", module: "writable", __dirname: "readonly", process: "readonly" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      // chai's `expect(x).to.be.true` is an expression statement.
      "@typescript-eslint/no-unused-expressions": "off",
    },
  },
);
