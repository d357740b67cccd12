// Composes the bench's HTTP agencies into one supergraph for Hive Gateway.
// The bench writes each agency's OpenAPI document (from bench/world.py, with the URL the
// agency listens on in this run) and names them in FAME_BENCH_OPENAPI as a JSON object,
// subgraph name -> document path; FAME_BENCH_SUPERGRAPH is where the supergraph goes.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

const documents: Record<string, string> = JSON.parse(process.env.FAME_BENCH_OPENAPI ?? '{}');

export const composeConfig = defineConfig({
  output: process.env.FAME_BENCH_SUPERGRAPH,
  subgraphs: Object.entries(documents).map(([name, source]) => ({
    sourceHandler: loadOpenAPISubgraph(name, { source }),
  })),
});
