// Convert a training-time model, then verify a deploy model on its own, from a script.
// Run from the project root: node docs/examples/convert-and-verify.js fixtures/onnx/repvgg-bn/train.onnx
const { convert, verify, UserError, CheckFailedError } = require('repvgg-convert');

async function main(input) {
  const result = await convert(input, 'deploy.onnx', {
    verifyOptions: { samples: 2, seed: 7 },
    onEvent: (e) => e.type === 'phase-end' && console.error(`${e.phase}: ${e.ms.toFixed(0)} ms`),
  });
  console.log('merged:', result.reparam.merged);
  console.log('ops after:', result.reparam.opsAfter);
  console.log('max abs error:', result.verify.outputs.output.maxAbsError);

  const again = await verify(input, 'deploy.onnx', { ep: 'cpu', atol: 1e-4, rtol: 1e-4 });
  console.log('verify ok:', again.ok);
}

main(process.argv[2]).catch((e) => {
  if (e instanceof CheckFailedError) process.exitCode = 1; // the models differ
  else if (e instanceof UserError) process.exitCode = 2; // bad input or usage: e.message, e.hint
  else throw e;
  console.error(e.message);
});
