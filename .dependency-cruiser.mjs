// The layering of src/, checked in `npm run lint` (ARCHITECTURE.md draws it):
//
//   api, mail  <-  kube, providers, store  <-  routing  <-  controller | endpoint  <-  main.ts
//
// Each rule's comment is what `npm run lint` prints when it breaks.
const others = (...allowed) => `^src/(?!(?:${allowed.join("|")})/)`;

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules in src/ never import each other in a circle: split the shared part into a module both import.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'api-imports-nothing-of-ours',
      severity: 'error',
      comment: 'src/api/ is the single source of the API (types, schemas, CRDs): it imports nothing else of ours.',
      from: { path: '^src/api/' },
      to: { path: '^src/', pathNot: '^src/api/' },
    },
    {
      name: 'mail-imports-nothing-of-ours',
      severity: 'error',
      comment: 'src/mail/ holds pure mail-format helpers (addresses) that every layer may use: it imports nothing else of ours.',
      from: { path: '^src/mail/' },
      to: { path: '^src/', pathNot: '^src/mail/' },
    },
    {
      name: 'kube-knows-no-upper-layer',
      severity: 'error',
      comment: 'src/kube/ is the Kubernetes client layer: it may use src/api/, never providers, routing, the controller or the doors.',
      from: { path: '^src/kube/' },
      to: { path: others('kube', 'api') },
    },
    {
      name: 'providers-know-no-kubernetes',
      severity: 'error',
      comment: 'src/providers/ talks to mail servers and provider APIs and knows nothing of Kubernetes, routing, reconciling or the doors.',
      from: { path: '^src/providers/' },
      to: { path: others('providers', 'mail') },
    },
    {
      name: 'store-knows-only-the-api',
      severity: 'error',
      comment: 'src/store/ keeps what replicas share (idempotency, rate limits, the queue) in memory or Redis: it may use src/api/ only.',
      from: { path: '^src/store/' },
      to: { path: others('store', 'api') },
    },
    {
      name: 'routing-knows-no-reconciler-or-door',
      severity: 'error',
      comment: 'src/routing/ is read by the controller and the doors alike: it never imports either of them.',
      from: { path: '^src/routing/' },
      to: { path: '^src/(controller|endpoint|cli)/|^src/main\\.ts$' },
    },
    {
      name: 'controller-never-imports-the-doors',
      severity: 'error',
      comment: 'The reconcilers (src/controller/) never import the send doors (src/endpoint/): share through src/routing/.',
      from: { path: '^src/controller/' },
      to: { path: '^src/endpoint/' },
    },
    {
      name: 'doors-never-import-the-controller',
      severity: 'error',
      comment: 'The send doors (src/endpoint/) never import the reconcilers (src/controller/): share through src/routing/.',
      from: { path: '^src/endpoint/' },
      to: { path: '^src/controller/' },
    },
    {
      name: 'only-main-wires-the-controller',
      severity: 'error',
      comment: 'Only src/main.ts builds the controller; other layers depend on src/routing/ instead.',
      from: { path: '^src/', pathNot: '^src/(controller/|main\\.ts$)' },
      to: { path: '^src/controller/' },
    },
    {
      name: 'only-main-wires-the-doors',
      severity: 'error',
      comment: 'Only src/main.ts builds the send doors; other layers depend on src/routing/ instead.',
      from: { path: '^src/', pathNot: '^src/(endpoint/|main\\.ts$)' },
      to: { path: '^src/endpoint/' },
    },
    {
      name: 'nothing-imports-main',
      severity: 'error',
      comment: 'src/main.ts is the entry point that wires everything; nothing imports it.',
      from: {},
      to: { path: '^src/main\\.ts$' },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      comment: 'src/ ships in the image: it never imports test/, bench/ or scripts/ (they may import anything in src/).',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'src-uses-production-dependencies-only',
      severity: 'error',
      comment: 'The image installs production dependencies only: src/ must not import a devDependency.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file or an installed package.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
