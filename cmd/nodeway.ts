console.log('nodeway');
